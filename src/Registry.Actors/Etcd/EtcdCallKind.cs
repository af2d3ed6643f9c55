namespace Registry.Etcd;

/// <summary>What an etcd call is, as the channel's picker tells it from the request's path.</summary>
internal enum EtcdCallKind
{
    /// <summary>One request, one answer: a lost one costs that call alone.</summary>
    Unary,

    /// <summary>A watch stream: one left on a hung member is found only by its silence timeout.</summary>
    Watch,

    /// <summary>The keep-alive stream every lease shares.</summary>
    KeepAlive,
}
