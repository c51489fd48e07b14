package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantmcu/quantmcu/plugin/pluginpb"
)

// GRPCPlugin connects an Optimizer to go-plugin. Plugins set Impl (Serve does this); the host
// leaves it nil and dispenses a *Client.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Impl   Optimizer
	Logger hclog.Logger
}

// GRPCServer registers the Optimizer service (plugin side).
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("plugin: GRPCPlugin has no Impl to serve")
	}
	log := p.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	pluginpb.RegisterOptimizerServer(s, &server{impl: p.Impl, log: log})
	return nil
}

// GRPCClient returns a *Client talking to the plugin (host side).
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{rpc: pluginpb.NewOptimizerClient(c)}, nil
}

// NewGRPCServer is go-plugin's ServeConfig.GRPCServer with message limits raised to
// MaxMessageSize.
func NewGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
	return grpc.NewServer(opts...)
}

// DialOptions are the gRPC options a host passes in go-plugin's ClientConfig.GRPCDialOptions,
// raising message limits to MaxMessageSize.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize))}
}

// server adapts an Optimizer to the generated service interface.
type server struct {
	pluginpb.UnimplementedOptimizerServer
	impl Optimizer
	log  hclog.Logger
}

func (s *server) describe() Description {
	d := s.impl.Describe()
	d.ProtocolVersion = ProtocolVersion
	d.PID = os.Getpid()
	return d
}

func (s *server) Describe(context.Context, *pluginpb.DescribeRequest) (*pluginpb.Description, error) {
	d := s.describe()
	return descriptionToPB(&d), nil
}

func (s *server) Optimize(req *pluginpb.OptimizeRequest, stream grpc.ServerStreamingServer[pluginpb.OptimizeEvent]) error {
	d := s.describe()
	opts, err := Resolve(&d, req.GetOptions())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	var (
		mu   sync.Mutex
		done bool
	)
	progress := func(msg string, fraction float64) {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		ev := &pluginpb.OptimizeEvent{Event: &pluginpb.OptimizeEvent_Progress{
			Progress: &pluginpb.Progress{Message: msg, Fraction: fraction}}}
		if err := stream.Send(ev); err != nil {
			s.log.Debug("progress not delivered", "error", err)
		}
	}
	resp, err := s.run(stream.Context(), &Request{Model: req.GetModel(), ModelName: req.GetModelName(), Options: opts}, progress)
	mu.Lock()
	done = true
	mu.Unlock()
	if err != nil {
		if IsBadInput(err) {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return status.Error(codes.Internal, err.Error())
	}
	if resp == nil {
		return status.Error(codes.Internal, "optimizer returned no response")
	}
	return stream.Send(&pluginpb.OptimizeEvent{Event: &pluginpb.OptimizeEvent_Result{Result: responseToPB(resp)}})
}

// run calls the optimizer, turning a panic into an error (logged with its stack) so that one
// bad model does not take the plugin process down without an explanation.
func (s *server) run(ctx context.Context, req *Request, progress func(string, float64)) (resp *Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("optimizer panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return s.impl.Optimize(ctx, req, progress)
}

// Client is the host's handle on a running plugin.
type Client struct {
	rpc pluginpb.OptimizerClient
}

// NewClient wraps a gRPC connection to a plugin (GRPCPlugin.GRPCClient uses it; tests may
// too).
func NewClient(c grpc.ClientConnInterface) *Client {
	return &Client{rpc: pluginpb.NewOptimizerClient(c)}
}

// RemoteError is an error the plugin reported for a call (as opposed to a broken connection).
type RemoteError struct {
	Code codes.Code
	Msg  string
}

func (e *RemoteError) Error() string { return e.Msg }

// callError classifies an RPC error: INVALID_ARGUMENT becomes BadInput, other codes a plugin
// sends become *RemoteError, transport failures are returned wrapped as they are.
func callError(op string, err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", op, err)
	case codes.InvalidArgument:
		return BadInput(&RemoteError{Code: st.Code(), Msg: st.Message()})
	}
	return &RemoteError{Code: st.Code(), Msg: st.Message()}
}

// Describe asks the plugin for its description.
func (c *Client) Describe(ctx context.Context) (*Description, error) {
	d, err := c.rpc.Describe(ctx, &pluginpb.DescribeRequest{})
	if err != nil {
		return nil, callError("describe", err)
	}
	return descriptionFromPB(d), nil
}

// Optimize sends one model to the plugin, passes its progress events to progress (which may be
// nil) and returns its result.
func (c *Client) Optimize(ctx context.Context, req *Request, progress func(msg string, fraction float64)) (*Response, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Optimize(ctx, &pluginpb.OptimizeRequest{Model: req.Model, Options: req.Options, ModelName: req.ModelName})
	if err != nil {
		return nil, callError("optimize", err)
	}
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return nil, errors.New("optimize: the plugin ended its reply without a result")
		}
		if err != nil {
			return nil, callError("optimize", err)
		}
		switch e := ev.GetEvent().(type) {
		case *pluginpb.OptimizeEvent_Progress:
			if progress != nil {
				progress(e.Progress.GetMessage(), e.Progress.GetFraction())
			}
		case *pluginpb.OptimizeEvent_Result:
			return responseFromPB(e.Result), nil
		}
	}
}

// OptionType and Level use the numbering of their protocol enums, so conversions are casts;
// unknown values from a remote peer stay unknown and fail Option.Check / print as such.
var (
	_ = [1]int{}[int(pluginpb.OptionType_OPTION_TYPE_SIZE)-int(Size)]
	_ = [1]int{}[int(pluginpb.Diagnostic_LEVEL_ERROR)-int(Error)]
)

func descriptionToPB(d *Description) *pluginpb.Description {
	out := &pluginpb.Description{
		Name: d.Name, Version: d.Version, Summary: d.Summary,
		ProtocolVersion: uint32(d.ProtocolVersion), Pid: int64(d.PID),
	}
	for _, o := range d.Options {
		out.Options = append(out.Options, &pluginpb.OptionSpec{
			Name: o.Name, Type: pluginpb.OptionType(o.Type), Default: o.Default, Help: o.Help, AllowedValues: o.Allowed,
		})
	}
	return out
}

func descriptionFromPB(d *pluginpb.Description) *Description {
	out := &Description{
		Name: d.GetName(), Version: d.GetVersion(), Summary: d.GetSummary(),
		ProtocolVersion: int(d.GetProtocolVersion()), PID: int(d.GetPid()),
	}
	for _, o := range d.GetOptions() {
		out.Options = append(out.Options, Option{
			Name: o.GetName(), Type: OptionType(o.GetType()), Default: o.GetDefault(), Help: o.GetHelp(), Allowed: o.GetAllowedValues(),
		})
	}
	return out
}

func responseToPB(r *Response) *pluginpb.OptimizeResult {
	out := &pluginpb.OptimizeResult{Model: r.Model, Artifacts: r.Artifacts, Summary: r.Summary}
	for _, d := range r.Diagnostics {
		out.Diagnostics = append(out.Diagnostics, &pluginpb.Diagnostic{
			Level: pluginpb.Diagnostic_Level(d.Level), SubgraphIndex: int32(d.Subgraph), OperatorIndex: int32(d.Operator), Message: d.Message,
		})
	}
	return out
}

func responseFromPB(r *pluginpb.OptimizeResult) *Response {
	out := &Response{Model: r.GetModel(), Artifacts: r.GetArtifacts(), Summary: r.GetSummary()}
	for _, d := range r.GetDiagnostics() {
		out.Diagnostics = append(out.Diagnostics, Diagnostic{
			Level: Level(d.GetLevel()), Subgraph: int(d.GetSubgraphIndex()), Operator: int(d.GetOperatorIndex()), Message: d.GetMessage(),
		})
	}
	return out
}
