chmod 0750 tree/sub
