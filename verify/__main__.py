from verify.cli import entry

entry()
