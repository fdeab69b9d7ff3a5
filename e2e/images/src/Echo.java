import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * The testbox image's program.
 *
 * <ul>
 *   <li>{@code Echo} (default): an HTTP server that answers every request with {@code echo
 *       host=<hostname> path=<path>} and logs one line per request. Port from {@code ECHO_PORT}
 *       (default 8080). Exits 0 on SIGTERM.
 *   <li>{@code Echo fetch URL}: one GET with the pod's ServiceAccount token and CA (when mounted),
 *       prints {@code status=<code>} and the body; exit 0 on a 2xx answer.
 * </ul>
 */
public final class Echo {
  private static final Path SA = Path.of("/var/run/secrets/kubernetes.io/serviceaccount");

  public static void main(String[] args) throws Exception {
    if (args.length == 2 && args[0].equals("fetch")) {
      System.exit(fetch(args[1]));
    }
    serve();
  }

  private static void serve() throws Exception {
    int port = Integer.parseInt(System.getenv().getOrDefault("ECHO_PORT", "8080"));
    String host = InetAddress.getLocalHost().getHostName();
    HttpServer server = HttpServer.create(new InetSocketAddress(port), 16);
    server.createContext(
        "/",
        exchange -> {
          String path = exchange.getRequestURI().getPath();
          byte[] body = ("echo host=" + host + " path=" + path + "\n").getBytes(StandardCharsets.UTF_8);
          System.out.println("request from " + exchange.getRemoteAddress() + " path=" + path);
          exchange.sendResponseHeaders(200, body.length);
          try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
          }
        });
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  System.out.println("echo: shutting down");
                  server.stop(0);
                }));
    server.start();
    System.out.println("echo: listening on " + port + " java=" + Runtime.version());
  }

  private static int fetch(String url) throws Exception {
    HttpClient.Builder client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(60));
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(90));
    if (Files.exists(SA.resolve("ca.crt"))) {
      KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
      trust.load(null, null);
      int i = 0;
      for (var cert :
          CertificateFactory.getInstance("X.509")
              .generateCertificates(new ByteArrayInputStream(Files.readAllBytes(SA.resolve("ca.crt"))))) {
        trust.setCertificateEntry("ca" + i++, cert);
      }
      TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      tmf.init(trust);
      SSLContext ssl = SSLContext.getInstance("TLS");
      ssl.init(null, tmf.getTrustManagers(), null);
      client.sslContext(ssl);
    }
    if (Files.exists(SA.resolve("token"))) {
      request.header("Authorization", "Bearer " + Files.readString(SA.resolve("token")).trim());
    }
    HttpResponse<String> response =
        client.build().send(request.build(), HttpResponse.BodyHandlers.ofString());
    System.out.println("status=" + response.statusCode());
    System.out.println(response.body());
    return response.statusCode() / 100 == 2 ? 0 : 1;
  }
}
