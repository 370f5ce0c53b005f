"""Domain code of the cervical cord-compression app: pure, tested, free of MONAI Label imports."""
