// Replays a recorded co-simulation scenario on cim_top under any Verilog
// simulator (used with Icarus Verilog): loads and input vectors come from
// commands.hex, the golden model's output beats from expected.hex.
// Written by hand (not generated); cimpool passes the sizes as parameters.
`timescale 1ns / 1ps
`default_nettype none

module cim_tb;
    parameter LOAD_SEL_BITS = 2;
    parameter LOAD_ADDR_BITS = 8;
    parameter LOAD_DATA_BITS = 32;
    parameter IN_BITS = 32;
    parameter OUT_BITS = 32;
    parameter PAYLOAD_BITS = 32;  // max(LOAD_DATA_BITS, IN_BITS)
    parameter N_COMMANDS = 1;
    parameter N_BEATS = 1;
    parameter MAX_CYCLES = 1000000;
    localparam CMD_BITS = 4 + LOAD_SEL_BITS + LOAD_ADDR_BITS + PAYLOAD_BITS;

    // Command word, most significant first:
    // {is_input, is_load, first, last, sel, addr, payload}
    reg [CMD_BITS-1:0] commands [0:N_COMMANDS-1];
    reg [OUT_BITS:0] expected [0:N_BEATS-1];  // {out_last, out_data}

    reg clk = 1'b0;
    reg rst = 1'b1;
    reg load_valid = 1'b0;
    reg [LOAD_SEL_BITS-1:0] load_sel = 0;
    reg [LOAD_ADDR_BITS-1:0] load_addr = 0;
    reg [LOAD_DATA_BITS-1:0] load_data = 0;
    reg in_valid = 1'b0;
    reg in_first = 1'b0;
    reg in_last = 1'b0;
    reg [IN_BITS-1:0] in_data = 0;
    reg out_ready = 1'b0;
    wire load_ready, in_ready, out_valid, out_last;
    wire [OUT_BITS-1:0] out_data;

    cim_top dut (
        .clk(clk), .rst(rst),
        .load_valid(load_valid), .load_ready(load_ready), .load_sel(load_sel),
        .load_addr(load_addr), .load_data(load_data),
        .in_valid(in_valid), .in_ready(in_ready), .in_first(in_first),
        .in_last(in_last), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .out_last(out_last),
        .out_data(out_data)
    );

    integer next = 0;
    integer beat = 0;
    integer cycle = 0;
    reg [15:0] lfsr = 16'hACE1;
    reg [CMD_BITS-1:0] cmd;

    always #5 clk = ~clk;

    initial begin
        $readmemh("commands.hex", commands);
        $readmemh("expected.hex", expected);
        repeat (2) @(posedge clk);
        @(negedge clk) rst = 1'b0;
    end

    // Drive on the falling edge, sample on the rising edge.
    always @(negedge clk) if (!rst) begin
        lfsr = {lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]};
        out_ready = lfsr[0] | lfsr[3];
        load_valid = 1'b0;
        in_valid = 1'b0;
        if (next < N_COMMANDS) begin
            cmd = commands[next];
            load_sel = cmd[PAYLOAD_BITS + LOAD_ADDR_BITS +: LOAD_SEL_BITS];
            load_addr = cmd[PAYLOAD_BITS +: LOAD_ADDR_BITS];
            load_data = cmd[LOAD_DATA_BITS-1:0];
            in_data = cmd[IN_BITS-1:0];
            in_last = cmd[CMD_BITS-4];
            in_first = cmd[CMD_BITS-3];
            load_valid = cmd[CMD_BITS-2];
            in_valid = cmd[CMD_BITS-1];
        end
    end

    always @(posedge clk) if (!rst) begin
        cycle = cycle + 1;
        if ((load_valid && load_ready) || (in_valid && in_ready)) next = next + 1;
        if (out_valid && out_ready) begin
            if ({out_last, out_data} !== expected[beat]) begin
                $display("MISMATCH beat %0d cycle %0d expected %h got %h", beat, cycle, expected[beat], {out_last, out_data});
                $finish;
            end
            beat = beat + 1;
            if (beat == N_BEATS) begin
                $display("PASS beats=%0d commands=%0d cycles=%0d", beat, next, cycle);
                $finish;
            end
        end
        if (cycle > MAX_CYCLES) begin
            $display("TIMEOUT after %0d cycles: %0d of %0d commands, %0d of %0d beats", cycle, next, N_COMMANDS, beat, N_BEATS);
            $finish;
        end
    end
endmodule

`default_nettype wire
