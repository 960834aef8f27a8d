public enum CLIModule {}
