"""The command line, `python app.py COMMAND`: one module per group of commands."""
