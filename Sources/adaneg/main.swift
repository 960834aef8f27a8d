import AdaNegCLI
