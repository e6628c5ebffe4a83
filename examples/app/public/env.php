<?php
// Print the value of the environment variable named by ?name=. Only names
// that start with PHPEEK_ are printed, so the demo does not expose the
// rest of the environment. Tests use it to check that php-fpm keeps the
// supervisor's environment (clear_env = no).
header('Content-Type: text/plain');
$name = $_GET['name'] ?? '';
if (!preg_match('/^PHPEEK_[A-Z0-9_]+$/', $name)) {
    http_response_code(400);
    echo "name must match PHPEEK_[A-Z0-9_]+\n";
    exit;
}
$value = getenv($name);
if ($value === false) {
    http_response_code(404);
    echo "$name is not set\n";
    exit;
}
echo "$name=$value\n";
