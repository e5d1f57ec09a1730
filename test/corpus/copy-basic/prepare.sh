chmod 0600 dir/a && chmod 0755 dir/sub/b
