// Small string helpers every module needs: trimming, XML escaping, shell quoting.
#pragma once

#include <string>
#include <string_view>

namespace skiff {

// `s` without leading and trailing white space (isspace: blank, tab, CR, LF, ...).
std::string_view Trim(std::string_view s);

// `s` with A-Z as a-z (MAC addresses, HTTP header names); other bytes unchanged.
std::string AsciiLower(std::string_view s);

// `text` with XML's special characters as entities. In an attribute (the default;
// Skiff writes attributes in single quotes) both quotes are escaped; in element
// text only &, < and >.
std::string XmlEscape(std::string_view text, bool attribute = true);

// `arg` as one word for a POSIX shell: unchanged when it holds only characters no
// shell treats specially, else in single quotes ('it'\''s'). For log lines and
// commands a user may paste.
std::string ShellQuote(std::string_view arg);

}  // namespace skiff
