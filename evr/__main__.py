from evr.cli import main

raise SystemExit(main())
