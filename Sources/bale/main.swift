import BaleCLI
BaleMain.main()
