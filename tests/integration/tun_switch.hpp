#pragma once

// A userspace IPv4 switch between TUN devices, for the network-namespace
// harness (netns.hpp) on kernels without sch_netem: it is the only way to
// delay packets there (nftables can drop, not hold, and the kernel has no
// NFQUEUE either). Nothing here includes CAF.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cxesdb::tests {

/// Forwards IPv4 packets between TUN devices (opened with IFF_TUN |
/// IFF_NO_PI) of one /24: a packet read from one port goes to the port whose
/// address has the packet's last destination octet, after that link's delay.
/// Packets to no known port, and anything but IPv4, are dropped.
///
/// One thread forwards; `set_delay` may be called from any thread. Drops and
/// loss are nftables' job (netns.hpp), not the switch's.
class tun_switch {
public:
  /// Packets held for a delay at most; beyond that new ones are dropped, as
  /// a full queue on a real link would.
  static constexpr size_t queued_packets_max = 100000;

  tun_switch() = default;
  tun_switch(const tun_switch&) = delete;
  tun_switch& operator=(const tun_switch&) = delete;

  /// Stops the thread and closes the ports' file descriptors (which removes
  /// the TUN devices).
  ~tun_switch();

  /// Adds a port: `fd` is a TUN device's descriptor, owned by the switch
  /// from now on; `last_octet` the last octet of its address. Only before
  /// `start`.
  void add_port(int fd, uint8_t last_octet);

  /// Starts forwarding.
  void start();

  /// Holds every packet from the port of `from_octet` to the port of
  /// `to_octet` for `delay` (0: forwarded at once).
  void set_delay(uint8_t from_octet, uint8_t to_octet,
                 std::chrono::milliseconds delay);

  /// Packets forwarded, and dropped for lack of a port or queue room.
  uint64_t forwarded() const noexcept {
    return forwarded_;
  }
  uint64_t dropped() const noexcept {
    return dropped_;
  }

private:
  void run();

  struct port {
    int fd = -1;
    uint8_t octet = 0;
  };

  std::vector<port> ports_;
  std::mutex mtx_;
  /// delay_ms_[from * 256 + to], by last octet.
  std::vector<int64_t> delay_ms_ = std::vector<int64_t>(256 * 256, 0);
  int stop_fd_ = -1; ///< an eventfd that wakes the thread to stop
  std::thread thread_;
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> dropped_{0};
};

/// Opens a TUN device called `name` (IFF_TUN | IFF_NO_PI, close-on-exec) in
/// the network namespace `/run/netns/<netns>`, or in the caller's when
/// `netns` is empty. The device lives until the descriptor is closed.
/// Throws std::runtime_error on failure.
int open_tun(const std::string& netns, const std::string& name);

} // namespace cxesdb::tests
