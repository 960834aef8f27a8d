import AdaNegCLI

await AdaNegCommand.run()
