"""All SQL lives here. A repository takes a session and never commits (the session's
context manager does): one repository per aggregate."""
