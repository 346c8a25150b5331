"""`python -m xcircle`: the same as the `xcircle` console script."""

from __future__ import annotations

from xcircle.entry import main

if __name__ == "__main__":
    main()
