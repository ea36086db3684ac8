import sys

from purekong.cli import main

sys.exit(main())
