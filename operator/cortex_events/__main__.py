from cortex_events.cli import main

raise SystemExit(main())
