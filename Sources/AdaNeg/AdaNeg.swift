public enum AdaNegModule {}
