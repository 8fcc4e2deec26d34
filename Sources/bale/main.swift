import BaleCLI
BaleCommand.main()
