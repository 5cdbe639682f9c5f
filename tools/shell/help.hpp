#pragma once

#include <ostream>

#include "tools/shell/command_table.hpp"

namespace cxesdb::shell {

/// The one-line usage of the executable.
extern const char* const shell_usage;

/// Prints the usage line, the flags and the command list (`--help`).
void print_usage(std::ostream& out);

/// Prints every command's syntax and summary (`help`).
void print_command_list(std::ostream& out);

/// Prints one command's syntax, summary and options (`help COMMAND`).
void print_command_help(const command_spec& cmd, std::ostream& out);

} // namespace cxesdb::shell
