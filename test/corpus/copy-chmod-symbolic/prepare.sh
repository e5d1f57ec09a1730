chmod 0666 f.txt && chmod 0700 tree/sub/exe tree/sub && chmod 0600 tree/plain
