<?php
// Spend CPU time: ?n= rounds of hashing (default 200000, at most 5000000),
// then print "burned N".
// Tests use it to load php-fpm's workers and compare phpeek-pm's CPU metric
// with /proc. The work is a fixed amount of computation, not a wall-clock
// span, so it costs the same CPU time on a busy machine.
header('Content-Type: text/plain');
$rounds = filter_var($_GET['n'] ?? '200000', FILTER_VALIDATE_INT, [
    'options' => ['min_range' => 1, 'max_range' => 5000000],
]);
if ($rounds === false) {
    http_response_code(400);
    echo "n must be a whole number from 1 to 5000000\n";
    exit;
}
$hash = 'phpeek';
for ($i = 0; $i < $rounds; $i++) {
    $hash = md5($hash);
}
echo "burned $rounds\n";
