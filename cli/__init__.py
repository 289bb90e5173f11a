"""The ``fedkd`` console command: what a site operator or a user runs by hand."""
