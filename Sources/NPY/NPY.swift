public enum NPYModule {}
