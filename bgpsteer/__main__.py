from bgpsteer.cli import main

main()
