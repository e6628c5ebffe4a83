{
  description = "phpeek: process manager, entrypoint and php-fpm-nginx images for PHP containers";

  # NOTE: no flake.lock is committed yet, because nixpkgs could not be
  # fetched where this file was written. The first `nix build` writes one;
  # commit it so that every build uses the same nixpkgs revision.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs = { self, nixpkgs }:
    let
      lib = nixpkgs.lib;
      systems = [ "x86_64-linux" "aarch64-linux" ];

      # Build an attribute set { x86_64-linux = f "x86_64-linux"; ... }.
      eachSystem = f: lib.genAttrs systems f;

      cargoToml = builtins.fromTOML (builtins.readFile ./Cargo.toml);
      version = cargoToml.workspace.package.version;

      # PHP versions with an image. Each one is built only where nixpkgs has
      # its interpreter (`pkgs ? php85`): 8.5 exists only in newer nixpkgs.
      phpVersions = [ "8.2" "8.3" "8.4" "8.5" ];

      # "8.4" -> "php84", the nixpkgs attribute of that PHP release.
      phpAttr = v: "php" + lib.replaceStrings [ "." ] [ "" ] v;

      pkgsFor = system: nixpkgs.legacyPackages.${system};

      # The workspace source without build output and editor files.
      src = lib.cleanSourceWith {
        src = ./.;
        filter = path: type:
          let base = baseNameOf path;
          in !(type == "directory" && (base == "target" || base == "result"))
            && lib.cleanSourceFilter path type;
      };

      # One binary of the workspace. The tests run in scripts/test.sh with
      # real php-fpm and nginx, which the Nix build sandbox lacks, so the
      # package build skips them.
      mkBinary = pkgs: { pname, crate, description }:
        pkgs.rustPlatform.buildRustPackage {
          inherit pname version src;
          cargoLock.lockFile = ./Cargo.lock;
          cargoBuildFlags = [ "-p" crate "--bin" pname ];
          doCheck = false;
          meta = {
            inherit description;
            license = lib.licenses.mit;
            mainProgram = pname;
            platforms = systems;
          };
        };

      mkPackages = pkgs: {
        phpeek-pm = mkBinary pkgs {
          pname = "phpeek-pm";
          crate = "phpeek-supervisor";
          description = "Process manager for PHP containers";
        };
        phpeek-entrypoint = mkBinary pkgs {
          pname = "phpeek-entrypoint";
          crate = "phpeek-entrypoint";
          description = "Container entrypoint of the phpeek PHP images";
        };
        phpeek-image = mkBinary pkgs {
          pname = "phpeek-image";
          crate = "phpeek-image";
          description = "Daemonless builder of OCI images from Debian packages";
        };
        # The minijinja templates at the path the entrypoint reads by default.
        phpeek-templates = pkgs.runCommand "phpeek-templates-${version}" { } ''
          mkdir -p $out/usr/share/phpeek/templates
          cp ${./templates}/* $out/usr/share/phpeek/templates/
        '';
      };

      # The extensions every image gets, on top of nixpkgs' default set. A
      # name that the extension set lacks is skipped, because PHP 8.5 builds
      # opcache into the interpreter and nixpkgs then has no extension for it.
      commonExtensionNames = [
        "opcache"
        "mbstring"
        "intl"
        "pdo_mysql"
        "pdo_pgsql"
        "pdo_sqlite"
        "redis"
        "zip"
        "gd"
        "bcmath"
        "pcntl"
        "sockets"
      ];
      commonExtensions = all:
        map (n: all.${n}) (builtins.filter (n: all ? ${n}) commonExtensionNames);

      # PHP with php-fpm and the common extensions plus `extraExtensions`.
      mkPhp = pkgs: phpVersion: extraExtensions:
        let
          php = pkgs.${phpAttr phpVersion};
          wanted = all: commonExtensions all ++ extraExtensions all;
        in
        php.buildEnv {
          # Skip the wanted extensions that the default set already has, so
          # none is loaded twice.
          extensions = { enabled, all }:
            enabled ++ builtins.filter (e: !(builtins.elem e enabled)) (wanted all);
        };

      # A php-fpm-nginx image run by phpeek-entrypoint and phpeek-pm. With
      # `app`, that folder is copied to /var/www/html.
      mkImage = pkgs:
        { phpVersion
        , name ? "php-fpm-nginx"
        , tag ? "${phpVersion}-nix"
        , extraExtensions ? (all: [ ])
        , app ? null
        }:
        let
          ours = mkPackages pkgs;
          php = mkPhp pkgs phpVersion extraExtensions;
          nginx = pkgs.nginx;
          templateDir = "${ours.phpeek-templates}/usr/share/phpeek/templates";

          # root, www-data (33, as on Debian) and nobody, written as real
          # files because PUID and PGID rewrite them at start.
          passwd = pkgs.writeText "passwd" ''
            root:x:0:0:root:/root:/bin/sh
            www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
            nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
          '';
          group = pkgs.writeText "group" ''
            root:x:0:
            www-data:x:33:
            nogroup:x:65534:
          '';
        in
        pkgs.dockerTools.buildLayeredImage {
          inherit name tag;

          contents = [
            ours.phpeek-pm
            ours.phpeek-entrypoint
            ours.phpeek-templates
            php
            nginx
            pkgs.dockerTools.binSh
            pkgs.dockerTools.caCertificates
            pkgs.coreutils
            pkgs.tzdata
          ];

          # The entrypoint renders its configs into /tmp/phpeek, and nginx
          # opens its compiled-in log and cache paths before reading them.
          extraCommands = ''
            mkdir -p etc root tmp var/log/nginx var/cache/nginx var/www/html
            chmod 1777 tmp
            install -m 0644 ${passwd} etc/passwd
            install -m 0644 ${group} etc/group
            ${lib.optionalString (app != null) "cp -r --no-preserve=mode ${app}/. var/www/html/"}
          '';
          fakeRootCommands = ''
            chown -R 33:33 var/www
          '';

          config = {
            Entrypoint = [ "/bin/phpeek-entrypoint" ];
            Cmd = [ "phpeek-pm" ];
            WorkingDir = "/var/www/html";
            StopSignal = "SIGTERM";
            ExposedPorts = {
              "80/tcp" = { };
              "9090/tcp" = { };
            };
            Env = [
              "PATH=/bin"
              "PHPEEK_PM_BIN=${ours.phpeek-pm}/bin/phpeek-pm"
              "PHPEEK_TEMPLATE_DIR=${templateDir}"
              "PHP_BIN=${php}/bin/php"
              "PHP_FPM_BIN=${php}/bin/php-fpm"
              # nixpkgs' PHP wrapper reads its extension list from this
              # folder only while PHP_INI_SCAN_DIR is unset. The entrypoint
              # appends its own php.ini folder to the value, so it is set
              # here to keep the extensions loaded.
              "PHP_INI_SCAN_DIR=${php}/lib"
              "PHP_FPM_LISTEN=127.0.0.1:9000"
              "NGINX_BIN=${nginx}/bin/nginx"
              "NGINX_HTTP_PORT=80"
              "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
              "TZDIR=${pkgs.tzdata}/share/zoneinfo"
            ];
            Labels = {
              "org.opencontainers.image.title" = "phpeek ${name}";
              "org.opencontainers.image.description" =
                "PHP ${phpVersion} FPM and nginx from nixpkgs, supervised by phpeek-pm";
              "org.opencontainers.image.version" = "${version}-php${phpVersion}";
              "org.opencontainers.image.revision" = self.rev or "dirty";
              "org.opencontainers.image.licenses" = "MIT";
            };
          };
        };
    in
    {
      packages = eachSystem (system:
        let
          pkgs = pkgsFor system;
          ours = mkPackages pkgs;
          # image-php82, image-php83, ... for each PHP release nixpkgs has.
          images = lib.listToAttrs (map
            (v: lib.nameValuePair "image-${phpAttr v}" (mkImage pkgs { phpVersion = v; }))
            (builtins.filter (v: pkgs ? ${phpAttr v}) phpVersions));
        in
        ours // images // { default = ours.phpeek-pm; });

      # Build an image of your own app: the php-fpm-nginx image with `app`
      # copied to /var/www/html and `extraExtensions` (a function of the
      # extension set, such as `all: [ all.imagick ]`) added.
      lib.mkAppImage =
        { app
        , name
        , tag
        , phpVersion ? "8.4"
        , extraExtensions ? (all: [ ])
        , system ? "x86_64-linux"
        }:
        mkImage (pkgsFor system) { inherit app name tag phpVersion extraExtensions; };

      formatter = eachSystem (system: (pkgsFor system).nixpkgs-fmt);
    };
}
