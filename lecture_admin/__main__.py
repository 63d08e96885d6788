import sys

from lecture_admin.cli import main

sys.exit(main())
