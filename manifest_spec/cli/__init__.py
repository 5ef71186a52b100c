"""The command line: flags to settings, one API call, a reporter chosen by --output."""
