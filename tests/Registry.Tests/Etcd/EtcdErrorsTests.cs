using Grpc.Core;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

public sealed class EtcdErrorsTests
{
    [Theory]
    [InlineData(StatusCode.Unavailable, "connection refused\n(retrying)", "etcd Unavailable: connection refused (retrying)")]
    [InlineData(StatusCode.DeadlineExceeded, "", "etcd DeadlineExceeded: no answer before the call's deadline")]
    [InlineData(StatusCode.Unavailable, "", "etcd Unavailable")]
    public void An_etcd_failure_is_one_line_without_an_empty_detail(StatusCode code, string detail, string expected) =>
        Assert.Equal(expected, EtcdErrors.Describe(new RpcException(new Status(code, detail))));

    [Fact]
    public void An_aggregate_is_described_by_its_inner_failure() =>
        Assert.Equal("etcd Unavailable", EtcdErrors.Describe(new AggregateException(new RpcException(new Status(StatusCode.Unavailable, "")))));
}
