import Testing

@testable import SwitchRuntime

@Suite struct MetricsTextTests {
    @Test func familiesAndSamplesInTheTextFormat() {
        var text = MetricsText()
        text.family("f2f_port_frames_total", .counter, help: "Frames.")
        text.sample("f2f_port_frames_total", [("port", "1"), ("direction", "in")], UInt64(42))
        text.sample("f2f_mac_table_entries", [], 3)
        text.sample("process_start_time_seconds", [], 1_700_000_000.5)
        #expect(
            text.text == """
                # HELP f2f_port_frames_total Frames.
                # TYPE f2f_port_frames_total counter
                f2f_port_frames_total{port="1",direction="in"} 42
                f2f_mac_table_entries 3
                process_start_time_seconds 1700000000.5

                """)
    }

    @Test func labelValuesEscapeBackslashQuoteAndLineFeed() {
        var text = MetricsText()
        text.sample("f2f_peer_up", [("peer", "a\"b\\c\nd"), ("id", "")], 1)
        #expect(text.text == "f2f_peer_up{peer=\"a\\\"b\\\\c\\nd\",id=\"\"} 1\n")
    }

    @Test func helpEscapesBackslashAndLineFeedOnly() {
        var text = MetricsText()
        text.family("x", .gauge, help: "a \"quoted\" \\ and\nnext")
        #expect(text.text == "# HELP x a \"quoted\" \\\\ and\\nnext\n# TYPE x gauge\n")
    }

    @Test(arguments: [(Double.nan, "NaN"), (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (0.25, "0.25"), (-3.0, "-3.0")])
    func specialFloats(value: Double, expected: String) {
        #expect(MetricsText.formatted(value) == expected)
    }
}
