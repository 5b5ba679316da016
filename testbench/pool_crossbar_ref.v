// Behavioural reference of the `mux` crossbar for formal equivalence checks:
// out[l] = in[select[l]] (select[l] is lane l's pool index), written as a plain loop. Hand-written, independent of
// the generator's mux trees.
`default_nettype none

module pool_crossbar_ref #(
    parameter P = 8,   // lanes (pool vectors)
    parameter IW = 3,  // index bits, ceil(log2 P)
    parameter W = 4    // data bits per lane
) (
    input  wire [P*W-1:0]  pool_y,
    input  wire [P*IW-1:0] select,
    output reg  [P*W-1:0]  sel_y
);
    integer l;
    always @* begin
        sel_y = {P*W{1'b0}};
        for (l = 0; l < P; l = l + 1)
            sel_y[l*W +: W] = pool_y[select[l*IW +: IW]*W +: W];
    end
endmodule

`default_nettype wire
