from manifest_spec.cli import main

main()
