from alignlab.cli.main import main

main()
