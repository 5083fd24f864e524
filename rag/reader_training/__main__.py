"""``python -m rag.reader_training``: see :mod:`rag.reader_training.cli`."""

from rag.reader_training.cli import main

raise SystemExit(main())
