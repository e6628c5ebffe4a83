<?php
// Sleep for ?ms= milliseconds (default 1000, at most 30000), then print
// "slow done".
// Tests use it to hold a request in flight during a graceful stop. The cap
// stays well under nginx's default 60 s fastcgi_read_timeout.
header('Content-Type: text/plain');
$ms = filter_var($_GET['ms'] ?? '1000', FILTER_VALIDATE_INT, [
    'options' => ['min_range' => 0, 'max_range' => 30000],
]);
if ($ms === false) {
    http_response_code(400);
    echo "ms must be a whole number from 0 to 30000\n";
    exit;
}
// A signal cuts usleep() short (php-fpm sends SIGQUIT to its workers on a
// graceful stop), so sleep again until the whole time has passed.
$deadline = hrtime(true) + $ms * 1_000_000;
while (($left_ns = $deadline - hrtime(true)) > 0) {
    usleep(intdiv($left_ns, 1000) + 1);
}
echo "slow done\n";
