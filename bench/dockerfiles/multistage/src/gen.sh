#!/bin/sh
ls /opt/app/share/docs | wc -l
