chmod 0600 dir/sub/y
