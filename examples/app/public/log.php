<?php
// Write ?msg= (default "log from php") as one line to the worker's stderr.
// php-fpm passes it on to its own stderr, so tests can check that the
// supervisor captures worker output.
header('Content-Type: text/plain');
$msg = $_GET['msg'] ?? 'log from php';
$msg = str_replace(["\r", "\n"], ' ', $msg);
file_put_contents('php://stderr', $msg . "\n");
echo "logged\n";
