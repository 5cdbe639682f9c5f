// A small program against the cxesdb C++ client library: connect to a node's
// API port, create a store, append two events, read them back, and receive
// them again in an actor subscribed to the stream. See docs/client.md; the
// build compiles it and a test runs it against a node.
//
// Build against the installed library:
//
//   c++ -std=c++17 client-example.cpp -I/usr/local/include/cxesdb
//     -lcxesdb_client -lcaf_io -lcaf_core -lpthread -o client-example
//
// (one command line).
//
// Run: ./client-example [HOST [PORT [STORE]]]  (default 127.0.0.1 7412 shop)

#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <string>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/send.hpp"

#include "gateway/client.hpp"

using cxesdb::actors::dropped_atom;
using cxesdb::actors::event_atom;
using cxesdb::gateway::client;
using cxesdb::gateway::errc;
using cxesdb::gateway::event_data;
using cxesdb::gateway::expected_version;

int main(int argc, char** argv) {
  std::string host = argc > 1 ? argv[1] : "127.0.0.1";
  auto port = static_cast<uint16_t>(argc > 2 ? std::atoi(argv[2]) : 7412);
  std::string store = argc > 3 ? argv[3] : "shop";

  // The client talks to the node through CAF's middleman.
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cxesdb::gateway::add_error_category(cfg);
  caf::actor_system sys{cfg};

  auto c = client::connect(sys, host, port);
  if (!c) {
    std::cerr << "connect: " << sys.render(c.error()) << "\n";
    return 1;
  }

  // Create the store; a store that already exists is fine here.
  cxesdb::gateway::store_settings settings;
  settings.description = "an example store";
  if (auto info = c->create_store(store, settings)) {
    std::cout << "created store " << info->store << " in "
              << info->config.data_dir << "\n";
  } else if (cxesdb::gateway::reason_of(info.error()) != errc::already_exists) {
    std::cerr << "create_store: " << sys.render(info.error()) << "\n";
    return 1;
  }

  // Append two events to a new stream. "no_stream" makes the append fail
  // with wrong_expected_version when the stream already has events.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  std::string stream = "order-" + std::to_string(now.count());
  auto appended = c->append_events(
    store, stream, expected_version::no_stream(),
    {event_data{"OrderPlaced", {{"order", 42}, {"total", 99.5}}},
     event_data{"OrderPaid", {{"order", 42}}, {{"by", "card"}}}});
  if (!appended) {
    auto err = appended.error();
    std::cerr << "append_events: " << cxesdb::gateway::message_of(err)
              << " (reason " << to_string(cxesdb::gateway::reason_of(err))
              << ", data " << cxesdb::gateway::data_of(err).dump() << ")\n";
    return 1;
  }
  std::cout << "appended to " << stream << ": version " << appended->version
            << ", position " << appended->position.value_or(-1) << "\n";

  // Read the stream back from its start.
  auto events = c->get_events(store, stream);
  if (!events) {
    std::cerr << "get_events: " << sys.render(events.error()) << "\n";
    return 1;
  }
  for (auto& e : *events)
    std::cout << e.event_number << " " << e.event_type << " " << e.data.dump()
              << " at " << e.created << "\n";

  // Appending again with "no_stream" is a domain outcome, not a failure of
  // the program: the error carries the stream's current version.
  auto again = c->append_events(store, stream, expected_version::no_stream(),
                                {event_data{"OrderShipped", nullptr}});
  if (!again
      && cxesdb::gateway::reason_of(again.error())
           == errc::wrong_expected_version)
    std::cout << "stream is at version "
              << cxesdb::gateway::data_of(again.error())["current_version"]
              << "\n";

  // Subscribe an actor to the stream from its start: it receives both
  // events as messages. Returning from the handler answers the message,
  // which lets the next event come.
  auto both = std::make_shared<std::promise<void>>();
  auto receiver = sys.spawn([both](caf::event_based_actor* self) -> caf::behavior {
    auto seen = std::make_shared<int>(0);
    return {
      [=](event_atom, const std::string&, const std::string& subscription,
          const std::string& event) {
        auto e = nlohmann::json::parse(event)
                   .get<cxesdb::gateway::recorded_event>();
        std::cout << subscription << " delivered " << e.event_number << " "
                  << e.event_type << "\n";
        if (++*seen == 2)
          both->set_value();
      },
      [=](dropped_atom, const std::string&, const std::string&,
          const std::string& reason) {
        std::cerr << "subscription dropped: " << reason << "\n";
        self->quit();
      },
    };
  });
  cxesdb::gateway::subscription_request req;
  req.selector = stream;
  req.start_from = "origin";
  auto sub = c->subscribe(store, req, receiver);
  bool delivered = false;
  if (!sub)
    std::cerr << "subscribe: " << sys.render(sub.error()) << "\n";
  else
    delivered = both->get_future().wait_for(std::chrono::seconds{10})
                == std::future_status::ready;
  if (sub)
    c->unsubscribe(store, sub->subscription);
  // The actor system waits for its actors when it goes: stop the receiver.
  caf::anon_send_exit(receiver, caf::exit_reason::user_shutdown);
  return events->size() == 2 && delivered ? 0 : 1;
}
