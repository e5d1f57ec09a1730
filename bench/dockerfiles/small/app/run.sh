#!/bin/sh
cat /app/greeting.txt
exec httpd -f -p 8080 -h /app/www
