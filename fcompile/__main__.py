from fcompile.entry_point import main

main()
