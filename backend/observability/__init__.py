"""What a request or a job leaves behind: its id and access line (`middleware`), log lines in
JSON or text (`logs`), request metrics shared by gunicorn's workers (`http_metrics`)."""
