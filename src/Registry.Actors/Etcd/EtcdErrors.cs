using Grpc.Core;

namespace Registry.Etcd;

/// <summary>Turns failures of etcd calls into one line a log or an event can carry.</summary>
internal static class EtcdErrors
{
    public static string Describe(Exception e) => e switch
    {
        RpcException { Status.Detail: "" } rpc => rpc.StatusCode == StatusCode.DeadlineExceeded
            ? "etcd DeadlineExceeded: no answer before the call's deadline"
            : $"etcd {rpc.StatusCode}",
        RpcException rpc => $"etcd {rpc.StatusCode}: {rpc.Status.Detail}".ReplaceLineEndings(" "),
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => e.Message.ReplaceLineEndings(" "),
    };
}
