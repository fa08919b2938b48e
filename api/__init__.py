"""FastAPI front end: validates, goes through repositories, starts and messages workflows."""
