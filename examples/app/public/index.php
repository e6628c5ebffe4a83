<?php
// The page that tests and the demo fetch first. Tests match this line, so
// change them together.
header('Content-Type: text/plain');
printf("hello from phpeek php=%s sapi=%s\n", PHP_VERSION, PHP_SAPI);
