// The environment variables the service reads: ONE list, shared by the loader (config.cpp refuses
// to read a variable that is not in it), `coredb config print` (effective values, secrets masked)
// and `coredb config vars` (the names, which tests/deploy checks every variable set by the
// docker-compose file and the Kubernetes manifests against).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace coredb::config {

enum class Secrecy {
  kNone,
  kSecret,      // the whole value is masked (tokens, passwords)
  kConnection,  // a URL or libpq key=value string: its password is masked, the rest shown
};

struct Setting {
  std::string name;
  // What the loader uses when the variable is unset, spelled as the variable would be; empty when
  // there is none (the variable is optional, or its default is derived: see `summary`).
  std::string default_value;
  Secrecy secrecy = Secrecy::kNone;
  // Set when another variable makes this one ignored (PG_HOST when DATABASE_URL is set).
  std::string ignored_when;
  std::string summary;
};

// Every variable, in the order `config print` shows them.
const std::vector<Setting>& Settings();
const Setting* FindSetting(std::string_view name);

// `postgresql://u:****@h/db`, `host=h password=****`, `redis://:****@h:6379/0`: the password of a
// URL (user info and `password`/`sslpassword` query parameters) or of a key=value string masked.
std::string MaskConnectionString(std::string_view value);
// The value as `config print` shows it: secrets as ****, connection strings with their password masked.
std::string MaskedValue(const Setting& setting, std::string_view value);

}  // namespace coredb::config
