// Behavioural reference of the `benes` crossbar for formal equivalence
// checks. Hand-written, independent of the generator: the network is a plain
// loop over the 2*LOGP-1 stages; each stage exchanges pairs (2i, 2i+1) where
// its switch bit is set, then moves every element by rotating the low K bits
// of its position (generate loops, so every wire is fixed at elaboration): right by one (unshuffle) on the way into the middle
// stage, left by one (shuffle) on the way out. K = LOGP - s before the middle
// and s - LOGP + 3 after it, which is the recursive Benes construction.
`default_nettype none

module pool_crossbar_benes_ref #(
    parameter P = 8,     // lanes, a power of two
    parameter LOGP = 3,  // log2 P
    parameter W = 4      // data bits per lane
) (
    input  wire [P*W-1:0]                pool_y,
    input  wire [(2*LOGP-1)*(P/2)-1:0]   select,  // switch settings
    output reg  [P*W-1:0]                sel_y
);
    // stage_in[s] is the input of stage s; stage_in[2*LOGP-1] the output.
    wire [P*W-1:0] stage_in [0:2*LOGP-1];
    assign stage_in[0] = pool_y;
    always @* sel_y = stage_in[2*LOGP-1];

    genvar s, i;
    generate
        for (s = 0; s < 2*LOGP-1; s = s + 1) begin : stage
            localparam K = (s < LOGP-1) ? LOGP - s : s - LOGP + 3;
            wire [P*W-1:0] swapped;
            for (i = 0; i < P/2; i = i + 1) begin : exchange
                wire cross = select[s*(P/2) + i];
                assign swapped[(2*i)*W +: W]   = cross ? stage_in[s][(2*i+1)*W +: W] : stage_in[s][(2*i)*W +: W];
                assign swapped[(2*i+1)*W +: W] = cross ? stage_in[s][(2*i)*W +: W]   : stage_in[s][(2*i+1)*W +: W];
            end
            for (i = 0; i < P; i = i + 1) begin : move
                localparam LOW = i % (1 << K);
                localparam DEST = (s == 2*LOGP-2) ? i
                                : (s < LOGP-1) ? i - LOW + ((LOW >> 1) | ((LOW & 1) << (K-1)))
                                : i - LOW + (((LOW << 1) % (1 << K)) | (LOW >> (K-1)));
                assign stage_in[s+1][DEST*W +: W] = swapped[i*W +: W];
            end
        end
    endgenerate
endmodule

`default_nettype wire
