from fcompile.cli import main

main()
