// Identity and server URL go on the room before the elements are defined, so it joins
// once, as the right user (modules run in import order).
import './setup.js';
import '../components/index.js';
